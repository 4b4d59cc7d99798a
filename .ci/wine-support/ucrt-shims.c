// Symbols that DuckDB's Windows library (built with MSYS2's UCRT64 GCC)
// or Debian's msvcrt-built MinGW-w64 libraries need, and that Debian's
// libucrt.a (mingw-w64 10) lacks as linkable functions. Linked only into
// the binaries .ci/wine builds for testing under Wine.
#include <stdarg.h>
#include <stddef.h>

int __cdecl _vsnprintf(char *buf, size_t n, const char *format, va_list args);

// _snprintf: libucrt.a has it only as an inline in stdio.h. Weak: DuckDB
// 2.0's library brings its own copy of that inline (strutil.cc), 1.5's did
// not.
__attribute__((weak)) int __cdecl _snprintf(char *buf, size_t n, const char *format, ...) {
	va_list args;
	va_start(args, format);
	int r = _vsnprintf(buf, n, format, args);
	va_end(args);
	return r;
}

// _setjmp: Debian's winpthreads (built for msvcrt) calls it; UCRT names it
// __intrinsic_setjmp. A tail jump keeps the caller's frame, as setjmp needs.
__asm__(".globl _setjmp\n"
	"_setjmp:\n"
	"\tjmp *__imp___intrinsic_setjmp(%rip)\n");
