// A stand-in for bcryptprimitives.dll, which Wine 8 does not have and Go
// (1.22 and later) loads for ProcessPrng, its source of random bytes.
// ProcessPrng fills buf from the system's preferred generator.
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE buf, SIZE_T len) {
	return BCryptGenRandom(NULL, buf, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
