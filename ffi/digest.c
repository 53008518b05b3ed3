/* Streaming digests through OpenSSL's libcrypto, opened on first use (dlopen: boot never pays for
 * it, and nothing else in the shim needs it). A layer's bytes are hashed at libcrypto's speed
 * (its SHA-512 family is vectorised: about 1.8x the runtime's own node:crypto here), called
 * nonblocking so that the hashing runs on another thread while the extraction goes on.
 *
 * A digest set is an opaque handle to up to DIGEST_MAX contexts fed the same bytes. The
 * caller never runs two calls on one set at the same time (src/sys/digest.ts chains them). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "acond_shim.h"

/* The few libcrypto entry points used, bound by name (OpenSSL 3's stable ABI). */
struct crypto_api {
  int (*init)(uint64_t opts, const void *settings);
  const void *(*md_by_name)(const char *name);
  void *(*ctx_new)(void);
  void (*ctx_free)(void *ctx);
  int (*digest_init)(void *ctx, const void *md, void *engine);
  int (*digest_update)(void *ctx, const void *data, size_t len);
  int (*digest_final)(void *ctx, unsigned char *md, unsigned int *len);
};

#define OPENSSL_INIT_NO_LOAD_CONFIG 0x00000080L

static struct crypto_api api;
static int api_state; /* 0: not tried; 1: ready; -errno: unavailable */
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

static void api_open(void) {
  void *lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    api_state = -ENOENT;
    return;
  }
  *(void **)&api.init = dlsym(lib, "OPENSSL_init_crypto");
  *(void **)&api.md_by_name = dlsym(lib, "EVP_get_digestbyname");
  *(void **)&api.ctx_new = dlsym(lib, "EVP_MD_CTX_new");
  *(void **)&api.ctx_free = dlsym(lib, "EVP_MD_CTX_free");
  *(void **)&api.digest_init = dlsym(lib, "EVP_DigestInit_ex");
  *(void **)&api.digest_update = dlsym(lib, "EVP_DigestUpdate");
  *(void **)&api.digest_final = dlsym(lib, "EVP_DigestFinal_ex");
  if (!api.init || !api.md_by_name || !api.ctx_new || !api.ctx_free || !api.digest_init ||
      !api.digest_update || !api.digest_final) {
    api_state = -ENOSYS;
    return;
  }
  /* No openssl.cnf: the digests need no configuration, and the file is not ours to trust. */
  api_state = api.init(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) == 1 ? 1 : -EIO;
}

struct digest_set {
  uint32_t n;
  void *ctx[DIGEST_MAX];
};

static void set_free(struct digest_set *s) {
  for (uint32_t i = 0; i < s->n; i++) api.ctx_free(s->ctx[i]);
  free(s);
}

int32_t shim_digest_available(void) {
  pthread_once(&api_once, api_open);
  return api_state == 1 ? 0 : api_state;
}

int32_t shim_digest_new(const char *names, uint32_t count, void **out) {
  if (count == 0 || count > DIGEST_MAX) return -EINVAL;
  int32_t ok = shim_digest_available();
  if (ok < 0) return ok;
  struct digest_set *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  const char *name = names;
  for (uint32_t i = 0; i < count; i++, name += strlen(name) + 1) {
    const void *md = api.md_by_name(name);
    void *ctx = md ? api.ctx_new() : NULL;
    if (!ctx || api.digest_init(ctx, md, NULL) != 1) {
      if (ctx) api.ctx_free(ctx);
      set_free(s);
      return md ? -ENOMEM : -EINVAL;
    }
    s->ctx[s->n++] = ctx;
  }
  *out = s;
  return 0;
}

int32_t shim_digest_update(void *set, const uint8_t *data, uint64_t len) {
  struct digest_set *s = set;
  for (uint32_t i = 0; i < s->n; i++) {
    if (api.digest_update(s->ctx[i], data, (size_t)len) != 1) return -EIO;
  }
  return 0;
}

int32_t shim_digest_final(void *set, uint8_t *out, uint64_t len) {
  struct digest_set *s = set;
  uint64_t at = 0;
  for (uint32_t i = 0; i < s->n; i++) {
    if (len - at < DIGEST_BYTES) return -ERANGE;
    unsigned int n = 0;
    if (api.digest_final(s->ctx[i], out + at, &n) != 1) return -EIO;
    at += DIGEST_BYTES;
  }
  return (int32_t)s->n;
}

void shim_digest_free(void *set) {
  if (set) set_free(set);
}
