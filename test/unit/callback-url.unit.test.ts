import { describe, expect, it } from "vitest";
import { callbackUrlProblem } from "../../src/webhooks/callback-url";

/** A callback_url's problem for this host, parsed (and normalised) by the URL parser as at submit. */
const problem = (host: string) => callbackUrlProblem(`https://${host}/hook`, false);

describe("callbackUrlProblem: hosts refused by spelling, whatever the notation", () => {
  it("refuses the IPv6 spellings the issue found accepted, naming what they are", () => {
    expect(problem("[::127.0.0.1]")).toMatch(/is a reserved \(unspecified, loopback, IPv4-compatible or IPv4-mapped\) address$/);
    expect(problem("[64:ff9b::7f00:1]")).toMatch(/is a NAT64 \(embeds an IPv4 address\) address$/);
    expect(problem("[2002:7f00:1::]")).toMatch(/is a 6to4 \(embeds an IPv4 address\) address$/);
    expect(problem("[fec0::1]")).toMatch(/is a site-local address$/);
    expect(problem("[ff02::1]")).toMatch(/is a multicast address$/);
  });

  it("refuses loopback, private, link-local, site-local, multicast, unspecified and IPv4-embedding IPv6", () => {
    for (const host of [
      // upper case and fully expanded
      "[FEC0::1]",
      "[FF02::1]",
      "[64:FF9B::7F00:1]",
      "[0000:0000:0000:0000:0000:0000:0000:0001]",
      "[0:0:0:0:0:0:0:0]",
      "[fe80:0000:0000:0000:0000:0000:0000:0001]",
      "[0064:ff9b:0000:0000:0000:0000:7f00:0001]",
      "[2002:7f00:0001:0000:0000:0000:0000:0000]",
      // IPv4-mapped, -compatible and -translated, in hex and dotted, private or not
      "[::ffff:7f00:1]",
      "[::ffff:127.0.0.1]",
      "[::FFFF:127.0.0.1]",
      "[::ffff:8.8.8.8]",
      "[::ffff:0:7f00:1]",
      "[::10.0.0.1]",
      "[::a00:1]",
      "[0:0:0:0:0:0:10.0.0.1]",
      "[::]",
      "[::1]",
      // translators and tunnels that embed an IPv4 address
      "[64:ff9b::10.0.0.1]",
      "[64:ff9b:1::a00:1]",
      "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
      "[2002:c000:204::1]",
      // local scopes
      "[fc00::1]",
      "[fdff:ffff::1]",
      "[fe80::1]",
      "[febf::1]",
      "[feff::1]",
      "[ff00::]",
      "[ff05::2]",
      "[64:ff9c::1]",
      "[100::1]",
      "[2001:db8::1]",
      // IPv4, in the notations the URL parser normalises
      "0.0.0.0",
      "127.1",
      "0x7f.0.0.1",
      "017700000001",
      "2130706433",
      "10.255.255.255",
      "172.31.0.1",
      "192.168.0.1",
      "169.254.169.254",
      "100.127.255.255",
      "198.19.0.1",
      "224.0.0.1",
      "240.0.0.1",
      "255.255.255.255",
      // names
      "localhost",
      "localhost.",
      "metadata.google.internal",
      "printer.local",
    ]) {
      expect(problem(host), host).toMatch(/^host \S+ is (a|an) /);
    }
  });

  it("refuses a zone id (the URL parser does not take one)", () => {
    expect(problem("[fe80::1%25eth0]")).toBe("not a valid absolute URL");
  });

  it("accepts public addresses, including those just outside each refused range", () => {
    for (const host of [
      "[2606:4700::1111]",
      "[2606:4700:4700::1001]",
      "[2001:4860:4860::8888]",
      "[2a00:1450:4001:80b::200e]",
      "[2003::1]",
      "[2001:1::1]",
      "[fbff::1]",
      "[100:0:0:1::1]",
      "[2001:db9::1]",
      "8.8.8.8",
      "1.1.1.1",
      "100.128.0.1",
      "172.32.0.1",
      "169.255.0.1",
      "198.20.0.1",
      "223.255.255.255",
      "hooks.example.com",
    ]) {
      expect(problem(host), host).toBeNull();
    }
  });
});
