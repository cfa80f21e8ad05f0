# librumpuser_sockin: the sockin component hypercalls (include/rump/rumpuser_sockin.h), the
# host's sockets behind the kernel's AF_INET/AF_INET6 (librump/rumpnet/Sockin binds it with
# LibraryImport, loaded only when RUMP_SOCKIN asks for it). Included from hypercall/CMakeLists.txt;
# its own file so that the other net component hypercalls in this folder keep theirs.
rump_component_library(rumpuser_sockin ${CMAKE_CURRENT_LIST_DIR}/rumpcomp_sockin.c rumpuser_sockin.h)
target_include_directories(rumpuser_sockin PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../src)   # errtab.inc
set_property(SOURCE ${CMAKE_CURRENT_LIST_DIR}/rumpcomp_sockin.c APPEND PROPERTY
  OBJECT_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../src/errtab.inc)
