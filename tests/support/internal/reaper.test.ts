// Testcontainers' reaper (tests/support/internal/reaper.ts): on where its image is present or pullable, off — with one line
// that says what cleans up instead — where it is neither, and the user's TESTCONTAINERS_RYUK_DISABLED always wins.
// Against the real engine: a present image stands in for a reaper image that a laptop has, and an image on a
// registry address where nothing listens for one that cannot be pulled.
import { afterEach, beforeEach, expect, it } from "vitest";
import { describeDocker, imageRef } from "../index.ts";
import { decideReaper, reaperImage, reaperNotice } from "./reaper.ts";

const UNPULLABLE = "127.0.0.1:9/data-stack-test/no-such-reaper:0";
const VARIABLE = "TESTCONTAINERS_RYUK_DISABLED";

describeDocker("Testcontainers' reaper", () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env[VARIABLE];
    delete process.env[VARIABLE];
  });
  afterEach(() => {
    if (saved === undefined) delete process.env[VARIABLE];
    else process.env[VARIABLE] = saved;
  });

  it("stays on, and says nothing, when its image is present", async () => {
    const decision = await decideReaper(imageRef("postgres"));
    expect(decision).toEqual({ reaper: "on", by: "present", image: imageRef("postgres") });
    expect(process.env[VARIABLE]).toBeUndefined();
    expect(reaperNotice(decision)).toBeUndefined();
  });

  it("is turned off before Testcontainers asks for it when its image can be neither found nor pulled, with one line naming the image and the cleanup", async () => {
    const decision = await decideReaper(UNPULLABLE);
    expect(decision).toMatchObject({ reaper: "off", by: "unavailable", image: UNPULLABLE });
    expect(process.env[VARIABLE]).toBe("true");
    const notice = reaperNotice(decision) ?? "";
    expect(notice.split("\n")).toHaveLength(1);
    expect(notice).toContain(UNPULLABLE);
    expect(notice).toMatch(/teardown and interrupt handlers remove its containers/);
    expect(notice).toContain(`${VARIABLE}=false`);
  });

  it("leaves the decision to the user's variable, both ways, without looking for the image", async () => {
    process.env[VARIABLE] = "false";
    const started = Date.now();
    expect(await decideReaper(UNPULLABLE)).toEqual({ reaper: "on", by: "user", image: UNPULLABLE });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(process.env[VARIABLE]).toBe("false");
    process.env[VARIABLE] = "true";
    expect(await decideReaper(imageRef("postgres"))).toEqual({ reaper: "off", by: "user", image: imageRef("postgres") });
  });

  it("names the image Testcontainers itself would start, honouring RYUK_CONTAINER_IMAGE", () => {
    expect(reaperImage()).toMatch(/ryuk:\d+\.\d+\.\d+$/);
    const savedImage = process.env.RYUK_CONTAINER_IMAGE;
    process.env.RYUK_CONTAINER_IMAGE = "mirror.example/ryuk:1.2.3";
    try {
      expect(reaperImage()).toBe("mirror.example/ryuk:1.2.3");
    } finally {
      if (savedImage === undefined) delete process.env.RYUK_CONTAINER_IMAGE;
      else process.env.RYUK_CONTAINER_IMAGE = savedImage;
    }
  });
});
