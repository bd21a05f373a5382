# extract_add_library(<folder> SOURCES <file>... [PUBLIC <link>...] [PRIVATE <link>...] [UNLAYERED])
#
# The library of one folder: target extract_<folder> with the alias extract::<folder>, the
# project root as its include path (headers are named "folder/file.hpp" everywhere), the
# project's warnings, and the links given. Unless UNLAYERED (bench/, which may include any
# folder), the library joins EXTRACT_LAYERED_LIBRARIES, whose includes cmake/layering.cmake
# checks against its links.
function(extract_add_library folder)
  cmake_parse_arguments(PARSE_ARGV 1 arg "UNLAYERED" "" "SOURCES;PUBLIC;PRIVATE")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_SOURCES)
    message(FATAL_ERROR "extract_add_library(${folder}): SOURCES first, then PUBLIC / PRIVATE links "
                        "(unexpected: ${arg_UNPARSED_ARGUMENTS})")
  endif()
  set(target extract_${folder})
  add_library(${target} ${arg_SOURCES})
  add_library(extract::${folder} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${target} PUBLIC ${arg_PUBLIC} PRIVATE ${arg_PRIVATE} extract_warnings)
  if(NOT arg_UNLAYERED)
    set_property(GLOBAL APPEND PROPERTY EXTRACT_LAYERED_LIBRARIES ${target})
  endif()
endfunction()
