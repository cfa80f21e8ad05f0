# librumpuser_sockin: the sockin component hypercalls (include/rump/rumpuser_sockin.h), the
# host's sockets behind the kernel's AF_INET/AF_INET6 (librump/rumpnet/Sockin binds it with
# LibraryImport, loaded only when RUMP_SOCKIN asks for it). Included from hypercall/CMakeLists.txt;
# its own file so that the other net component hypercalls in this folder keep theirs.
add_library(rumpuser_sockin SHARED ${CMAKE_CURRENT_LIST_DIR}/rumpcomp_sockin.c)
set_target_properties(rumpuser_sockin PROPERTIES
  C_STANDARD 11
  C_STANDARD_REQUIRED ON
  C_EXTENSIONS OFF
  C_VISIBILITY_PRESET hidden
  LIBRARY_OUTPUT_DIRECTORY ${RUMP_LIBDIR}
  PUBLIC_HEADER ${CMAKE_CURRENT_LIST_DIR}/../include/rump/rumpuser_sockin.h)
target_include_directories(rumpuser_sockin
  PUBLIC ${CMAKE_CURRENT_LIST_DIR}/../include
  PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../src)   # errtab.inc
target_compile_definitions(rumpuser_sockin PRIVATE _GNU_SOURCE)
target_compile_options(rumpuser_sockin PRIVATE -Wall -Wextra -Werror)
target_link_libraries(rumpuser_sockin PRIVATE Threads::Threads)
set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/rumpcomp_sockin.c APPEND PROPERTY
  OBJECT_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../src/errtab.inc)
install(TARGETS rumpuser_sockin
  LIBRARY DESTINATION lib
  PUBLIC_HEADER DESTINATION include/rump)
