#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prints where `make install` puts the taplink Python package for
PREFIX (the first argument): the directory the interpreter running this
imports system modules from. Debian's python3 (deb_system scheme) reads
/usr/lib/python3/dist-packages for PREFIX=/usr and
$PREFIX/lib/python3.X/dist-packages for /usr/local; other builds of Python
use their site-packages under the prefix."""

import sys
import sysconfig

prefix = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else sys.prefix
if "deb_system" in sysconfig.get_scheme_names():
    if prefix == "/usr":
        print("/usr/lib/python3/dist-packages")
    else:
        print("%s/lib/python%d.%d/dist-packages" % (prefix, *sys.version_info[:2]))
else:
    print(sysconfig.get_path("purelib", "posix_prefix",
                             vars={"base": prefix, "platbase": prefix, "installed_base": prefix}))
