/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "manager.h"
#include "varlink.h"

/* The io.taplinkd Slot object (docs/io.taplinkd.varlink): what the slot
 * number and the configuration derive, plus what the record keeps (owner,
 * label, options). NULL when out of memory. */
struct json_object *slot_to_json(const struct config *c, const struct slot_rec *r);

/* Adds the Counters object (List(counters: true)) to a Slot object.
 * -ENOMEM. */
struct slot_counters;
int slot_json_add_counters(struct json_object *o, const struct slot_counters *sc);

/* io.taplinkd.KernelError {operation, errno}. */
void reply_kernel_error(struct varlink_conn *conn, const char *operation, int error);
