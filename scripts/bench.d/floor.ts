/**
 * The boot-time floor: the least a Deno PID 1 must do to answer HTTP from the host. Same kernel
 * and launcher as acond; network set-up in floor_net.ts, then a plain HTTP answer. Packed by
 * scripts/bench.d/boot.sh in place of acond.
 */
import { upNetwork } from "./floor_net.ts";

upNetwork();
// One line when listening (as acond's ready line), for the in-guest comparison in the bench.
const onListen = () => console.log(`floor listening in ${performance.now().toFixed(0)} ms`);
Deno.serve({ hostname: "0.0.0.0", port: 1025, onListen }, () => new Response("{}"));
