build/rel/src/util/gsm.o: src/util/gsm.c src/util/gsm.h
src/util/gsm.h:
