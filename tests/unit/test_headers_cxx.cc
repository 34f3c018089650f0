// SPDX-License-Identifier: MIT
// Every public header compiles as C++ and links against the C library.
#include <iobuf.h>
#include <iobuf/uring.h> // not in the umbrella: optional, but it compiles without liburing

#include <cstdio>

int main()
{
	std::printf("1..1\n");
	std::printf("%s 1 - public headers compile as C++ (version %s)\n",
		    IOBUF_VERSION_NUMBER > 0 ? "ok" : "not ok", IOBUF_VERSION_STRING);
	return 0;
}
