build/rel/src/util/phone.o: src/util/phone.c src/util/phone.h
src/util/phone.h:
