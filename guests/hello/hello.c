#include "../common/guest.h"

int main(void) {
	puts("Hello from a Cloister guest!\n");
	return 0;
}
