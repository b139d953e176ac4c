/* main.c: the kiln command line (placeholder until the driver lands). */
#include <stdio.h>

#include "ir/base.h"

int main(void)
{
	printf("kiln %s\n", KILN_VERSION);
	return 0;
}
