// The issue #9 reproduction: printf goes through vfprintf, whose write is an indirect call
// (FILE->write) below which fd_write pauses.
#include <stdio.h>

int main(void) {
    printf("hello %d\n", 1);
    printf("world %d\n", 2);
    return 0;
}
