#pragma once
// What every harness asserts: a broken property is a crash libFuzzer reports
// with the input that caused it.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                            \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "property broken at %s:%d: %s (%s)\n", __FILE__, __LINE__, #condition, \
                   what);                                                                      \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)
