# Writes OUTPUT: a C++ source holding every migrations/*.sql file as a string,
# in file-name order, so the binaries carry their schema with them.
file(GLOB sql_files "${MIGRATIONS_DIR}/*.sql")
list(SORT sql_files)
set(entries "")
foreach(path IN LISTS sql_files)
  get_filename_component(name "${path}" NAME)
  file(READ "${path}" sql)
  string(APPEND entries "    {\"${name}\", R\"webhooks_sql(${sql})webhooks_sql\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from lib/store/migrations by embed_migrations.cmake.\n#include \"lib/store/migrations.h\"\n\nnamespace webhooks::store {\n\nconst std::vector<Migration>& EmbeddedMigrations() {\n  static const std::vector<Migration>* const migrations = new std::vector<Migration>{\n${entries}  };\n  return *migrations;\n}\n\n}  // namespace webhooks::store\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
