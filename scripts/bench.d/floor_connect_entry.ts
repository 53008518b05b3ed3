// The entry of the Connect floor's image: its code is in a chunk that the image's warm-up caches.
const { main } = await import("./floor_connect.ts");
await main();
