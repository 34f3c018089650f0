#include <iobuf.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	struct iobuf_arena a;
	int rc = iobuf_arena_init(&a, 4096, 0, 0);
	if (rc < 0) { fprintf(stderr, "%s\n", strerror(-rc)); return 1; }
	memset(a.base, 1, a.size);
	printf("installed iobuf %s (0x%x): arena of %zu bytes\n", IOBUF_VERSION_STRING, iobuf_version(), a.size);
	return iobuf_arena_fini(&a) == 0 && iobuf_version() == IOBUF_VERSION_NUMBER ? 0 : 1;
}
