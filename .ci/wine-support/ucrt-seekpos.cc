// std::basic_streambuf<char>::seekpos for UCRT's mbstate_t (a struct,
// _Mbstatet). DuckDB's Windows library, built with a UCRT libstdc++, calls
// this instantiation; Debian's libstdc++ is built for msvcrt, where
// mbstate_t is an int, so it has only the other one. Compiled with -D_UCRT.
#include <streambuf>

template std::basic_streambuf<char>::pos_type
std::basic_streambuf<char>::seekpos(pos_type, std::ios_base::openmode);
