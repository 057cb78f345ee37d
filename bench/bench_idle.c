/* SPDX-License-Identifier: MIT */
/*
 * bench_idle: sleeps for the given number of milliseconds (default 500) and
 * exits. Under qemu-aarch64 its peak RSS is what the emulator itself costs
 * before any of our code runs: the baseline that tools/bench subtracts to
 * estimate the daemon's own memory on an aarch64 board.
 */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	long ms = argc > 1 ? strtol(argv[1], NULL, 10) : 500;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	return 0;
}
