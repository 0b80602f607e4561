/* SPDX-License-Identifier: MIT */
#pragma once

/* For the programs that make devices (C integration tests, bench/): they run
 * only in a network namespace of their own, which has nothing but lo. */

#include <net/if.h>
#include <stdbool.h>
#include <string.h>

static inline bool namespace_is_throwaway(void)
{
        struct if_nameindex *ifs = if_nameindex(), *i;
        bool only_lo = true;

        if (!ifs)
                return false;
        for (i = ifs; i->if_index; i++)
                if (strcmp(i->if_name, "lo") != 0)
                        only_lo = false;
        if_freenameindex(ifs);
        return only_lo;
}
