# Korean writes the half of the day before the time (오후 8:31), as Django's own ko
# TIME_FORMAT does; its DATETIME_FORMAT puts it after.
DATETIME_FORMAT = "Y년 n월 j일 A g:i"
