/* SPDX-License-Identifier: MIT */
/* The fixed key pair the export fuzz targets open sealed parts with (its
 * seed is public: a test key, never an organisation's or a box's). The
 * corpus files' sealed parts are sealed to it. */
#ifndef DR_EXPORT_FUZZKEY_H
#define DR_EXPORT_FUZZKEY_H

#include <sodium.h>

static inline void dr_fuzz_keypair(uint8_t pk[32], uint8_t sk[64])
{
	static const uint8_t seed[32] = "diaryroom fuzz key, public seed";
	if (sodium_init() < 0)
		abort();
	crypto_sign_seed_keypair(pk, sk, seed);
}

#endif
