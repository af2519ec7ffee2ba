-- Run once by the Postgres container of docker-compose.yml: the DuckLake warehouse catalog's user and database.
CREATE USER ragroute WITH PASSWORD 'ragroute';
CREATE DATABASE ragroute OWNER ragroute;
