// libFuzzer's entry for programs that keep their own main (compiler-rt's FuzzerInterface.h).
// Only a build with `-sanitize=fuzzer` links its definition; see Sources/registrar-fuzz.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
