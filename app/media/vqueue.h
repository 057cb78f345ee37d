/* SPDX-License-Identifier: MIT */
/*
 * dr_vqueue: the video track's bounded ring between the camera thread
 * (which grabs and encodes) and the recorder's writer thread. It holds
 * coded packets up to a byte budget; a packet that does not fit is refused
 * (the caller drops the frame and counts it), so a storage stall costs
 * frames, never memory beyond the budget and never a wait on the camera
 * side. Sound has a ring of its own (dr_ring): nothing here touches it.
 *
 * One producer thread (dr_vqueue_push) and one consumer thread
 * (dr_vqueue_peek/dr_vqueue_pop); a mutex held for a few instructions,
 * never across I/O. dr_vqueue_free(NULL) is a no-op.
 */
#ifndef DR_VQUEUE_H
#define DR_VQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dr_vpacket {
	uint64_t t_ns; /* CLOCK_MONOTONIC when the frame was grabbed */
	uint64_t seq;  /* camera's frame number */
	bool key;
	size_t len;
	unsigned char *data; /* malloc'ed, owned by the packet */
};

struct dr_vqueue;

/* budget: bytes of packet data that may wait; slots: packets that may
 * wait. -EINVAL / -ENOMEM. */
int dr_vqueue_new(size_t budget, size_t slots, struct dr_vqueue **out);
/* Frees the queue and every packet still in it. */
void dr_vqueue_free(struct dr_vqueue *q);

/* Would a packet of len bytes fit now? (Producer: to skip encoding a frame
 * that would be dropped anyway.) */
bool dr_vqueue_room(struct dr_vqueue *q, size_t len);
/* Takes ownership of p->data when it returns true; false: no room (the
 * caller keeps p->data and counts the frame as dropped). */
bool dr_vqueue_push(struct dr_vqueue *q, const struct dr_vpacket *p);
/* Consumer: the oldest packet without taking it; false if empty. The
 * packet stays valid until dr_vqueue_pop. */
bool dr_vqueue_peek(struct dr_vqueue *q, struct dr_vpacket *out);
/* Consumer: removes the oldest packet and frees its data. */
void dr_vqueue_pop(struct dr_vqueue *q);
/* Most bytes ever waiting. */
size_t dr_vqueue_high_water(struct dr_vqueue *q);
/* Removes everything (between recordings, both threads stopped). */
void dr_vqueue_clear(struct dr_vqueue *q);

#endif
