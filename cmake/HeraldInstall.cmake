include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
get_property(_herald_targets GLOBAL PROPERTY HERALD_EXPORTED_TARGETS)
install(TARGETS herald_core herald_warnings ${_herald_targets} EXPORT heraldTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT heraldTargets NAMESPACE herald:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/herald)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/heraldConfig.cmake.in [=[
@PACKAGE_INIT@
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(nlohmann_json)
find_dependency(Boost)
@HERALD_EXTRA_DEPENDENCIES@
include("${CMAKE_CURRENT_LIST_DIR}/heraldTargets.cmake")
]=])
# Static adapters carry their broker clients as link-only dependencies.
set(HERALD_EXTRA_DEPENDENCIES "")
get_property(_herald_deps GLOBAL PROPERTY HERALD_FIND_DEPENDENCIES)
foreach(dep IN LISTS _herald_deps)
  string(APPEND HERALD_EXTRA_DEPENDENCIES "${dep}\n")
endforeach()
configure_package_config_file(${CMAKE_CURRENT_BINARY_DIR}/heraldConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/heraldConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/herald)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/heraldConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/heraldConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/heraldConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/herald)
