export const SERVICE_NAME = "seedcore-edge";
export const SERVICE_VERSION = "0.1.0";
