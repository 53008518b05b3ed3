// Run by initramfs/warm_cache.sh inside a chroot of the image, as /tmp/warm_cache.js, with the
// flags and environment of the boot (initramfs/init.c): loads every chunk of the bundle
// (/app/*-*.js), so that Deno stores their V8 code cache, and that of the Node compatibility
// modules they import, in DENO_DIR (/var/cache/deno), which ships in the image. Evaluating a chunk
// only defines its module's functions and constants; the entry (/app/acond.js) would run acond
// and is not loaded. (Also serving one request here, to cache Deno's lazily loaded HTTP server
// modules, made no measurable difference.)
const chunks = [...Deno.readDirSync("/app")].map((e) => e.name)
  .filter((n) => /^[\w.]+-\w+\.js$/.test(n)).sort();
for (const name of chunks) {
  try {
    await import(`/app/${name}`);
  } catch (e) {
    console.error(`warm-up: /app/${name}: ${e}`);
  }
}
