/* The ABI's version and its constants by name, for the TypeScript side to check its codec against
 * (tests/unit/sys/abi_test.ts): every layout constant of acond_shim.h, under the name src/sys/
 * abi.ts gives it. The rows come from the same X-macro lists as the enums. Nothing at boot calls
 * these. */
#include <stddef.h>
#include <string.h>

#include "acond_shim.h"

struct constant {
  const char *name;
  int64_t value;
};

#define ROW_STEP(name, value) {"STEP_" #name, value},
#define ROW_I(name, value) {"I_" #name, value},
#define ROW_F(name, value) {"F_" #name, value},
#define ROW_OUT(name, value) {"OUT_" #name, value},
#define ROW_LIMIT(name, value) {#name, value},
#define ROW_IF_STEP(name, value) {"IF_STEP_" #name, value},
#define ROW_RECORD(name, field) \
  {"FILE_RECORD_" #name, (int64_t)offsetof(struct acond_file_record, field)},

static const struct constant constants[] = {
    ACOND_STEPS(ROW_STEP)
    ACOND_SLOTS(ROW_I)
    ACOND_FLAGS(ROW_F)
    ACOND_OUTS(ROW_OUT)
    ACOND_LIMITS(ROW_LIMIT)
    ACOND_IF_STEPS(ROW_IF_STEP)
    {"FILE_RECORD_SIZE", (int64_t)sizeof(struct acond_file_record)},
    ROW_RECORD(PATH_LEN, path_len)
    ROW_RECORD(MODE, mode)
    ROW_RECORD(FLAGS, flags)
    ROW_RECORD(RESERVED, reserved)
    ROW_RECORD(MTIME, mtime)
    ROW_RECORD(DATA_LEN, data_len)
    {"FILE_CHMOD", FILE_CHMOD},
};

int32_t acond_abi_version(void) { return ACOND_ABI_VERSION; }

int32_t acond_abi_constant(uint32_t i, char *name, uint64_t namelen, int64_t *value) {
  if (i >= sizeof constants / sizeof constants[0]) return -ENOENT;
  size_t len = strlen(constants[i].name);
  if (len >= namelen) return -ERANGE;
  memcpy(name, constants[i].name, len + 1);
  *value = constants[i].value;
  return 0;
}
