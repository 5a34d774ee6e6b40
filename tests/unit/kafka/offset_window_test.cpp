#include <catch2/catch.hpp>

#include "offset_window.hpp"

using herald::kafka::OffsetWindow;

TEST_CASE("the committable offset never passes an unfinished record", "[kafka][unit][offsets]") {
  OffsetWindow w;
  CHECK(w.committable() == -1);
  for (std::int64_t o = 10; o < 15; ++o) w.take(o);
  CHECK(w.committable() == 10);
  w.finish(12);
  w.finish(11);
  CHECK(w.committable() == 10);
  w.finish(10);
  CHECK(w.committable() == 13);
  CHECK(w.size() == 2);
  w.finish(14);
  CHECK(w.committable() == 13);
  w.finish(13);
  CHECK(w.committable() == 15);
  CHECK(w.size() == 0);
}

TEST_CASE("gaps in offsets (compacted or transactional topics) do not hold commits back", "[kafka][unit][offsets]") {
  OffsetWindow w;
  w.take(3);
  w.take(7);
  w.take(20);
  w.finish(7);
  w.finish(3);
  CHECK(w.committable() == 20);
  w.finish(20);
  CHECK(w.committable() == 21);
  w.finish(99);  // never taken: ignored
  CHECK(w.committable() == 21);
}
