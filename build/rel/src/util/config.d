build/rel/src/util/config.o: src/util/config.c src/util/config.h \
 src/util/str.h
src/util/config.h:
src/util/str.h:
