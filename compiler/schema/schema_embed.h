/* The schema XML embedded at build time: compiler/CMakeLists.txt runs
 * embed.cmake, which turns strata.xml into schema_embed.c (a byte array), so
 * a deployed binary needs no schema file. Internal to schema.c. */
#ifndef STRATA_COMPILER_SCHEMA_EMBED_H
#define STRATA_COMPILER_SCHEMA_EMBED_H

#include <stddef.h>

extern const unsigned char schema_embed_xml[];
extern const size_t schema_embed_xml_size;

#endif
