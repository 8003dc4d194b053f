# Build-time step: turns the schema XML (-DIN=) into a C source (-DOUT=)
# defining schema_embed_xml / schema_embed_xml_size (schema_embed.h). Run by
# compiler/CMakeLists.txt whenever the XML changes.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUT}.tmp"
"/* Generated from strata.xml by compiler/schema/embed.cmake; do not edit. */
#include \"compiler/schema/schema_embed.h\"

const unsigned char schema_embed_xml[] = {
    ${bytes}0x00
};
const size_t schema_embed_xml_size = ${size};
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
