/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-c/json.h>

#include "config.h"
#include "manager.h"

/* The parameters of the io.taplinkd methods (docs/io.taplinkd.varlink),
 * checked in one place. Pure: no I/O, no state, fuzzed by fuzz-params.
 * `params` is an object (varlink_parse_call() makes absent and null {}).
 * Each returns NULL when the parameters are fine, else the name of the
 * first bad one (for org.varlink.service.InvalidParameter): an unknown key,
 * a value of the wrong type, or one out of range. JSON null counts as
 * absent. */

struct call_params {
        struct slot_request acquire; /* acquire.label points into the JSON */
        unsigned slot;               /* Release, SetEgress */
        bool counters;               /* List */
        /* Acquire (acquire.egress points here), SetEgress: malloc'd */
        struct egress_policy *egress;
        /* Acquire (acquire.published points here): malloc'd, NULL when
         * absent */
        struct publish_list *published;
        struct publish_port port; /* Publish, Unpublish */
};

/* Frees what a successful parse allocated. */
void call_params_done(struct call_params *p);

typedef const char *(*params_parse_fn)(const struct config *c, struct json_object *params,
                                       struct call_params *ret);

/* Acquire: label, mtu, queues, vnetHeader, persistent, egress, allow,
 * publish (at most PUBLISH_PORTS_MAX, none conflicting; the per-slot
 * limit and the port range are the caller's to check), clone; the
 * defaults for what is absent. An MTU below 1280 with IPv6 on is refused
 * here rather than half-way through making the device (a clone slot has no
 * IPv6); clone: true is refused unless [clone] enabled. */
const char *params_acquire(const struct config *c, struct json_object *params, struct call_params *ret);
/* SetEgress: slot, egress (required), allow. */
const char *params_set_egress(const struct config *c, struct json_object *params, struct call_params *ret);
/* Publish, Unpublish: slot and port (both required). */
const char *params_publish(const struct config *c, struct json_object *params, struct call_params *ret);
/* Release: a slot number below effective_max_slots. */
const char *params_release(const struct config *c, struct json_object *params, struct call_params *ret);
/* List: counters (a bool, default false). */
const char *params_list(const struct config *c, struct json_object *params, struct call_params *ret);
/* Status: {} only. */
const char *params_none(const struct config *c, struct json_object *params, struct call_params *ret);
