"""Offline stand-in for rules_java on Bazel 4.2.3: forwards to the native rules.

@bazel_tools//tools/jdk (whose toolchains every build registers) loads these
names from @rules_java//java:defs.bzl; the pinned upstream version only
wrapped the native rules, too.
"""

def java_binary(**attrs):
    native.java_binary(**attrs)

def java_import(**attrs):
    native.java_import(**attrs)

def java_library(**attrs):
    native.java_library(**attrs)

def java_test(**attrs):
    native.java_test(**attrs)

def java_plugin(**attrs):
    native.java_plugin(**attrs)

def java_runtime(**attrs):
    native.java_runtime(**attrs)

def java_toolchain(**attrs):
    native.java_toolchain(**attrs)

def java_proto_library(**attrs):
    native.java_proto_library(**attrs)
