#include "herald/ext/store.hpp"
#include "sqlite_store.hpp"

namespace {

// Runs at start-up because herald::sqlite is linked whole (see HeraldAdapter.cmake).
const bool registered = [] {
  herald::register_store("sqlite", {
      .event_store = [](std::string_view url) { return herald::sqlite::make_event_store(herald::sqlite::read_options(url)); },
      .idempotency_store =
          [](std::string_view url, const herald::IdempotencyStoreOptions& options) {
            return herald::sqlite::make_idempotency_store(herald::sqlite::read_options(url), options);
          },
  });
  return true;
}();

}  // namespace
