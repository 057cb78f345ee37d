/* SPDX-License-Identifier: MIT */
/* What the export unit tests share to build a box and a stick: files
 * written whole, a recording sealed as the box seals it, a signed JSON
 * file as a staff stick or box writes it. Each asserts (cmocka) on
 * failure. */
#ifndef DR_TEST_EXPORT_FIXTURE_H
#define DR_TEST_EXPORT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

void fx_put(const char *path, const void *b, size_t n, mode_t mode);
/* A recording's file as the box writes it: sealed to the organisation. */
void fx_put_sealed(const char *path, const char *id, const uint8_t org_pk[32], const void *b, size_t n);
/* <base>.json and its Ed25519 signature <base>.sig in dirfd. */
void fx_put_signed(int dirfd, const char *base, const char *json, const uint8_t *sk);
int fx_open_dir(const char *p);

#endif
