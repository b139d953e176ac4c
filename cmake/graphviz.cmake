# cmake/graphviz.cmake: Graphviz's layout library (Debian libgraphviz-dev), which
# backend/dot/emit_dot.c uses to render --emit=svg.
#
# Links: libgvc and libcgraph into every target defined after this file.

pkg_check_modules(GRAPHVIZ REQUIRED IMPORTED_TARGET libgvc libcgraph)
link_libraries(PkgConfig::GRAPHVIZ)
