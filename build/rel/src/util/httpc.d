build/rel/src/util/httpc.o: src/util/httpc.c src/util/httpc.h \
 src/util/buf.h
src/util/httpc.h:
src/util/buf.h:
