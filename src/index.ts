import { seedcore } from "./worker";

// This repository's own Worker: the built-in task types only. A user's Worker does the same with
// its own definitions (README "Write a task", examples/my-tasks).
export default seedcore();
export { OrganismManager, Organ, TaskReaper, TaskWaiter, SeedCoreService } from "./package";
