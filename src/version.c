/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <iobuf/common.h>

unsigned iobuf_version(void)
{
	return IOBUF_VERSION_NUMBER;
}
