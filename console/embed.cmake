# Turns a file into a C++ source that defines one std::string: how the
# console's page is built into the binary (no file to ship, nothing fetched
# at run time). Optional: UPLOT_JS and UPLOT_CSS name files whose text
# replaces the page's /*@UPLOT_JS@*/ and /*@UPLOT_CSS@*/ markers (the chart
# library, installed from npm by tools/setup.sh).
#   cmake -DINPUT=page.html -DOUTPUT=page.cc -DFUNCTION=console_page -DNAMESPACE=vf::console
#         [-DUPLOT_JS=uPlot.iife.min.js -DUPLOT_CSS=uPlot.min.css] -P embed.cmake
cmake_minimum_required(VERSION 3.25)  # new policies: no @VAR@ expansion of the markers below
set(source "${INPUT}")
if(DEFINED UPLOT_JS)
  foreach(f "${UPLOT_JS}" "${UPLOT_CSS}")
    if(NOT EXISTS "${f}")
      message(FATAL_ERROR "${f} is missing: run tools/setup.sh (it installs the console's npm packages)")
    endif()
  endforeach()
  file(READ "${INPUT}" page)
  file(READ "${UPLOT_JS}" js)
  file(READ "${UPLOT_CSS}" css)
  string(REPLACE "/*@UPLOT_JS@*/" "${js}" page "${page}")
  string(REPLACE "/*@UPLOT_CSS@*/" "${css}" page "${page}")
  set(source "${OUTPUT}.page")
  file(WRITE "${source}" "${page}")
endif()
file(READ "${source}" content HEX)
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
