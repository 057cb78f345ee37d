# Fuzz targets of app/dev.
dr_add_fuzz_target(dev_button_script SOURCES dev_button_script.c LIBS dr_dev)
