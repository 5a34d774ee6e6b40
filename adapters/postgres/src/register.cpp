#include "herald/ext/store.hpp"
#include "pg_store.hpp"

namespace {

herald::StoreFactories factories() {
  return {
      .event_store = [](std::string_view url) { return herald::postgres::make_event_store(herald::postgres::read_config(url)); },
      .idempotency_store =
          [](std::string_view url, const herald::IdempotencyStoreOptions& options) {
            return herald::postgres::make_idempotency_store(herald::postgres::read_config(url), options);
          },
  };
}

// Runs at start-up because herald::postgres is linked whole (see HeraldAdapter.cmake).
const bool registered = [] {
  herald::register_store("postgresql", factories());
  herald::register_store("postgres", factories());
  return true;
}();

}  // namespace
