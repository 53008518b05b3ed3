// The entry of the TLS Connect floor's image: floor_connect.ts's chunk, serving over TLS.
const { main } = await import("./floor_connect.ts");
await main(true);
