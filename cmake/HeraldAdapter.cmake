# herald_add_adapter(NAME <name> SOURCES ... [LIBS ...])
#
# Adapters register their URL schemes from a static initializer. A static
# archive would let the linker drop that object, so the public target
# herald::<name> is an INTERFACE target that links the archive whole.
function(herald_add_adapter)
  cmake_parse_arguments(A "" "NAME" "SOURCES;LIBS;PUBLIC_LIBS" ${ARGN})
  set(impl herald_${A_NAME}_impl)
  add_library(${impl} STATIC ${A_SOURCES})
  set_target_properties(${impl} PROPERTIES POSITION_INDEPENDENT_CODE ON EXPORT_NAME ${A_NAME}_impl)
  target_include_directories(${impl} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:include>)
  target_link_libraries(${impl} PUBLIC herald::core ${A_PUBLIC_LIBS} PRIVATE herald_warnings ${A_LIBS})
  add_library(herald::${A_NAME}_impl ALIAS ${impl})
  add_library(herald_${A_NAME} INTERFACE)
  set_target_properties(herald_${A_NAME} PROPERTIES EXPORT_NAME ${A_NAME})
  target_link_libraries(herald_${A_NAME} INTERFACE "$<LINK_LIBRARY:WHOLE_ARCHIVE,herald::${A_NAME}_impl>" herald::core ${A_PUBLIC_LIBS})
  # LINK_LIBRARY carries the archive, not its usage requirements: restate them.
  target_include_directories(herald_${A_NAME} INTERFACE
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:include>)
  add_library(herald::${A_NAME} ALIAS herald_${A_NAME})
  set_property(GLOBAL APPEND PROPERTY HERALD_EXPORTED_TARGETS ${impl} herald_${A_NAME})
  install(DIRECTORY include/ DESTINATION include)
endfunction()
