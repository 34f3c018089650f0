// SPDX-License-Identifier: MIT
// Every public header compiles as C++ and links against the C library; the umbrella includes
// iobuf/uring.h, which needs none of liburing's headers (this file includes none).
#include <iobuf.h>

#include <cstdio>

int main()
{
	struct iobuf_uring_features f = {};

	std::printf("1..2\n");
	std::printf("%s 1 - public headers compile as C++ (version %s)\n",
		    IOBUF_VERSION_NUMBER > 0 ? "ok" : "not ok", IOBUF_VERSION_STRING);
	// Without iobuf/uring.h in the umbrella this does not compile.
	std::printf("%s 2 - iobuf.h declares iobuf/uring.h's types (a ring of at most %u entries, features %u)\n",
		    IOBUF_URING_BUFRING_MAX == 32768u && !f.buf_ring ? "ok" : "not ok", IOBUF_URING_BUFRING_MAX,
		    f.kernel_features);
	return 0;
}
