# Fuzz targets of app/media
dr_add_fuzz_target(media_wav SOURCES media_wav.c LIBS dr_media)
dr_add_fuzz_target(media_recover SOURCES media_recover.c LIBS dr_media)
dr_add_fuzz_target(media_mkv_scan SOURCES media_mkv_scan.c LIBS dr_media)
dr_add_fuzz_target(media_mkv_audio SOURCES media_mkv_audio.c LIBS dr_media)
dr_add_fuzz_target(media_h264 SOURCES media_h264.c LIBS dr_rec dr_dev)
