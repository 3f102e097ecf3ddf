# Turns a file into a C++ source that defines one std::string: how the
# console's page is built into the binary (no file to ship, nothing fetched
# at run time).
#   cmake -DINPUT=page.html -DOUTPUT=page.cc -DFUNCTION=console_page -DNAMESPACE=vf::console -P embed.cmake
file(READ "${INPUT}" content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by console/embed.cmake: do not edit.\n"
  "#include <string>\n"
  "namespace ${NAMESPACE} {\n"
  "namespace { const unsigned char kBytes[] = {${bytes}}; }\n"
  "const std::string& ${FUNCTION}() {\n"
  "  static const std::string text(reinterpret_cast<const char*>(kBytes), sizeof kBytes);\n"
  "  return text;\n"
  "}\n"
  "}  // namespace ${NAMESPACE}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
