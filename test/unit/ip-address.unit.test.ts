import { describe, expect, it } from "vitest";
import { inPrefix, parseIpv4, parseIpv6 } from "../../src/lib/ip-address";

const hex = (bytes: Uint8Array | null) => (bytes ? [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("") : null);

describe("parseIpv6", () => {
  it("reads every RFC 4291 spelling to the same 16 bytes", () => {
    const table: [string, string][] = [
      ["::", "00000000000000000000000000000000"],
      ["::1", "00000000000000000000000000000001"],
      ["0:0:0:0:0:0:0:1", "00000000000000000000000000000001"],
      ["0000:0000:0000:0000:0000:0000:0000:0001", "00000000000000000000000000000001"],
      ["1::", "00010000000000000000000000000000"],
      ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
      ["1:2:3::6:7:8", "00010002000300000000000600070008"],
      ["1:2:3:4:5:6::8", "00010002000300040005000600000008"],
      ["FEC0::ABCD", "fec0000000000000000000000000abcd"],
      ["::127.0.0.1", "0000000000000000000000007f000001"],
      ["::ffff:127.0.0.1", "00000000000000000000ffff7f000001"],
      ["::FFFF:7F00:1", "00000000000000000000ffff7f000001"],
      ["64:ff9b::10.0.0.1", "0064ff9b00000000000000000a000001"],
      ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
    ];
    for (const [text, bytes] of table) expect(hex(parseIpv6(text)), text).toBe(bytes);
  });

  it("refuses malformed text and zone ids", () => {
    for (const text of [
      "",
      ":",
      ":1",
      "1:",
      "1::2::3",
      "1:::2",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "12345::",
      "g::",
      "fe80::1%eth0",
      "fe80::1%25eth0",
      "1.2.3.4",
      "::1.2.3",
      "::256.0.0.1",
      "::1.2.3.4:5",
      "1:2:3:4:5:6:7:1.2.3.4",
    ]) {
      expect(parseIpv6(text), text).toBeNull();
    }
  });
});

describe("parseIpv4", () => {
  it("reads a dotted quad and nothing else", () => {
    expect([...parseIpv4("192.168.0.1")!]).toEqual([192, 168, 0, 1]);
    for (const text of ["256.0.0.1", "1.2.3", "1.2.3.4.5", "0x7f.0.0.1", "", "a.b.c.d"]) expect(parseIpv4(text), text).toBeNull();
  });
});

describe("inPrefix", () => {
  it("compares whole and partial bytes, within one family", () => {
    const fc00 = parseIpv6("fc00::")!;
    expect(inPrefix(parseIpv6("fdff::1")!, fc00, 7)).toBe(true);
    expect(inPrefix(parseIpv6("fe00::1")!, fc00, 7)).toBe(false);
    const fe80 = parseIpv6("fe80::")!;
    expect(inPrefix(parseIpv6("febf::1")!, fe80, 10)).toBe(true);
    expect(inPrefix(parseIpv6("fec0::1")!, fe80, 10)).toBe(false);
    expect(inPrefix(parseIpv4("100.127.255.255")!, parseIpv4("100.64.0.0")!, 10)).toBe(true);
    expect(inPrefix(parseIpv4("100.128.0.0")!, parseIpv4("100.64.0.0")!, 10)).toBe(false);
    expect(inPrefix(parseIpv4("10.0.0.1")!, parseIpv6("::")!, 0)).toBe(false);
  });
});
